"""achievements-db demo: the reference applications of examples/, run on generated activity
(activity, trackflow), in a database of their own (run), with a report (report)."""

# The demo's own database, on the server the command works on.
DATABASE = "achievements_demo_trackflow"
