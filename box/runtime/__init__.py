"""The running box: the daemon (start, stop, reload), the core thread that routes records, the
supervisors of drivers, and the facade the web app, the downlink and the CLI talk to."""
