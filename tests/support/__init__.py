"""Helpers shared by the tests: the test cluster and its databases, races, catalog snapshots,
and small readers and writers of the package's tables."""
