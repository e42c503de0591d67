"""achievements-db demo: the reference applications of examples/, run on generated activity."""
