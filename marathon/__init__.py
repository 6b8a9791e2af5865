"""Talking to Marathon and the Mesos master over HTTP, and (later) rendering app definitions."""
