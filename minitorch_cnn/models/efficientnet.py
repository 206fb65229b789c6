"""(being written)"""
BUILDERS = {}
