"""Field tools: sensor addressing and configuration, signed update bundles, provisioning."""
