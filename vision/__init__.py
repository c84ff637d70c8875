"""Vision: models on the TFLite interpreter, output decoders, motion gating, detectors.

Runs inside the vision worker (a child process, see ``vision.worker``); the camera driver in
``drivers.camera`` feeds it frames through shared memory. numpy, OpenCV and the interpreter are
imported only by the modules that need them, so importing this package costs nothing.
"""
