"""Device drivers. Each one only talks to hardware and emits readings; see ``drivers.base``."""
