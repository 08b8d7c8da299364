"""Alert rules: pure evaluation (evaluate.py), one pass over the rules due (run.py), a notice as a chat message
(notices.py), and snooze / acknowledge / mute (control.py)."""
