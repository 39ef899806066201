"""Video workflows: script-to-dubbed-video and dubbing of an existing video, built on ffmpeg."""
