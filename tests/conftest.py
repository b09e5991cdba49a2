"""pytest configuration shared by every test file.

Hypothesis runs derandomized: each property test draws the same examples on every run, so CI checks exactly what
passed locally, and a failure is reproducible from the test's name alone. Set HYPOTHESIS_PROFILE=explore to draw
fresh random examples (and more of them) when hunting for bugs."""
import os
from hypothesis import settings

settings.register_profile('repro', derandomize=True, print_blob=True)
settings.register_profile('explore', derandomize=False, max_examples=200, print_blob=True)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'repro'))
