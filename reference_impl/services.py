"""The service processes the supervisor runs: name -> ASGI app. Each issue's services join here."""

SERVICES: dict[str, str] = {
    "inventory": "reference_impl.inventory.app:app",
}
