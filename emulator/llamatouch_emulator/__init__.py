"""The virtual device, its ADB wire-protocol server and the demo world."""
