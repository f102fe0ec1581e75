"""The project's settings with WhiteNoise's own middleware: the benchmark's baseline."""

from myapp.settings import *  # noqa: F403
from myapp.settings import MIDDLEWARE

MIDDLEWARE = [
    "whitenoise.middleware.WhiteNoiseMiddleware"
    if name.endswith("AsyncWhiteNoiseMiddleware")
    else name
    for name in MIDDLEWARE
]
