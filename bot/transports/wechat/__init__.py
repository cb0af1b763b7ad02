"""The WeChat Official Account transport (公众号): callbacks in, customer-service messages out.

``receiver`` serves ``/wechat``: it checks WeChat's signature (and decrypts in safe mode),
stores the message in the inbox under a key WeChat's retries share, and only then answers
"success". ``mapper`` turns a stored message into an ``Incoming``; ``sender`` renders an
``Outgoing`` as customer-service messages (menus as ``msgmenu`` plus numbers to type, an
edit as a fresh message), falling back to a template message, or to waiting in the outbox,
outside the 48 h window. ``api`` makes the HTTP calls with the access_token every process
shares (stored in the database, refreshed by one process at a time).
"""

PLATFORM = "wechat"
