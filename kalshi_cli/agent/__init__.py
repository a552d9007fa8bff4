"""An assistant's access to kalshi-cli through the Model Context Protocol (`kalshi mcp`); `server`
is the one module that imports the `mcp` SDK. docs/agents.md is the guide.
"""
