"""The UI intent layer: what flows and services offer a person, said without a platform.

``payloads`` holds the typed, versioned button payloads and the one registry that validates
them; ``cases`` and ``feedback`` hold the payloads and choices a service sends too (an alert's
case buttons, the rider's "Fixed?"), so no service owns a button prefix. The intents themselves
(a choice, a request, an acknowledgement, a replacement) are in ``bot.chat`` and on
``handlers.base.Context``.
"""
