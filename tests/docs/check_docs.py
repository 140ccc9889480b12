#!/usr/bin/env python3
"""Checks that the docs' tables match the public headers (filled in by issue 10)."""
import sys
sys.exit(0)
