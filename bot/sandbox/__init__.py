"""The sandbox: the real bot against the local Bot API emulator, played from a web chat.

``runtime.sandbox`` starts the emulator, the bot and the web chat together; ``demo`` seeds
the demo personas; ``webchat`` is the browser-facing HTTP app; ``mapview`` turns the grid
map into simplified polygons for the location picker.
"""
