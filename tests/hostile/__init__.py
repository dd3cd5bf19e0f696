"""The hostile-server suite: a scripted raw-bytes server, and one scenario per misbehaviour
driven through every adapter (issue 8)."""
