"""Live dashboards: scopes, snapshots, publication after commit, and the websocket consumer."""
