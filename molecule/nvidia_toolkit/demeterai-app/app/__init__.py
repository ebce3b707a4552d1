"""Stand-in for DemeterAI's application package (test fixture of molecule/nvidia_toolkit)."""
