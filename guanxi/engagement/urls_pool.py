"""URL patterns (filled in by the matching feature module)."""

urlpatterns: list = []
