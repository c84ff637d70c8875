"""Cameras: OpenCV capture (RTSP, HTTP MJPEG, V4L2, files), one thread per camera that keeps
only the newest frame, and the ``camera`` driver that feeds the vision worker (``vision``)."""
