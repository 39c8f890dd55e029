"""Method packages: one package per method paper; a method never imports another.

A piece two methods need moves down into `layers`, `models`, `training`, `benchmark` or `utils`.
"""
