"""Shared plumbing below every stage: errors, atomic files, devices, report files."""
