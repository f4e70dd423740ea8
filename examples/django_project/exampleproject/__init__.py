"""An example Django project with supportkit's Support API mounted."""
