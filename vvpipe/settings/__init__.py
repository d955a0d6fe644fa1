"""Every section of ``params.yaml`` as a typed settings class, one module per concern.

These modules hold the settings and their checks and nothing else: a stage that reads a section
imports only its settings, not the code that acts on them. ``vvpipe.config`` reads the file and
builds them; ``stages/check_params.py`` names which class reads which section.
"""
