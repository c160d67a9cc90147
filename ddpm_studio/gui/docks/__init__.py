"""The studio's panels, each a QDockWidget that only shows what the main window hands it."""
