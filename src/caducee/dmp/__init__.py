"""DMP (Mon espace santé) client: XDS.b metadata and requests (issue 4)."""
