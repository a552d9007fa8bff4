"""The simulated exchange itself, in-process, with no I/O but its optional journal: the `Exchange`
and its components, the records and their archives, the wire shapes (serialize.py) and the
scenarios. The local venue and the backtests use it; nothing here imports the server.
"""
