"""The on-device runner for every Linux target (this host, a Raspberry Pi, a Jetson): runner.py and its siblings.

Named rpi/ after the first board it ran on; it imports nothing of the project (pushed alone to a board)."""
