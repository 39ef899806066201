"""Text-to-speech engines behind one interface (see base.py), and the encoder of their audio."""
