-- What counts toward TrackFlow's achievements: one achievements.track() call per step, over the
-- application's own tables (examples/trackflow/schema.sql): the [steps] of
-- examples/trackflow/catalog.toml, written as the calls they make.
-- Counters (mode count) count events; gauges (toggle, distinct) are the state of the rows now.
-- "Fully authored" = lyrics, chords, key and notes filled in (not empty) and a tempo.

-- Future Plans, WIP, Released: each time a song of the owner enters the status.
SELECT achievements.track('songs', 'future_plans_added', user_column => 'owner_id', condition => $$status = 'future_plans'$$);
SELECT achievements.track('songs', 'wip_started', user_column => 'owner_id', condition => $$status = 'wip'$$);
SELECT achievements.track('songs', 'songs_released', user_column => 'owner_id', condition => $$status = 'released'$$);
-- Completions: each time a song goes from WIP to released.
SELECT achievements.track('songs', 'wip_completed', user_column => 'owner_id', condition => $$status = 'released'$$, previous => $$status = 'wip'$$);

-- Packs: each pack created.
SELECT achievements.track('packs', 'packs_created', user_column => 'owner_id');

-- Collaborations, for the song's owner: each collaborator the owner adds to one of their songs,
-- and the collaborators the owner has added to the songs they own now. (The owner is not a
-- column of collaborations: the rows name who added them, added_by, which is the user counted,
-- and the condition keeps the rows added by the song's owner. A step's user must be a column of
-- the rows that change, and depends_on recounts the users of a column of the changed songs.)
SELECT achievements.track('collaborations', 'collaborators_added', 'user_id', user_column => 'added_by', condition => $$user_id <> added_by AND added_by = (SELECT s.owner_id FROM public.songs AS s WHERE s.id = collaborations.song_id)$$);
SELECT achievements.track('collaborations', 'collaborations', mode => 'toggle', user_column => 'added_by', condition => $$user_id <> added_by AND added_by = (SELECT s.owner_id FROM public.songs AS s WHERE s.id = collaborations.song_id)$$, depends_on => 'songs', depends_on_user_column => 'owner_id');

-- Spotify: each import that completes, and each playlist import that completes.
SELECT achievements.track('spotify_imports', 'spotify_imports_completed', user_column => 'user_id', condition => $$status = 'completed'$$);
SELECT achievements.track('spotify_imports', 'spotify_playlists_imported', user_column => 'user_id', condition => $$status = 'completed' AND kind = 'playlist'$$);

-- Community: each feature request submitted, each bug reported.
SELECT achievements.track('feature_requests', 'feature_requests_submitted', user_column => 'user_id');
SELECT achievements.track('bug_reports', 'bugs_reported', user_column => 'user_id');

-- Song completion: the owner's fully authored songs.
SELECT achievements.track('songs', 'fully_authored_songs', mode => 'toggle', user_column => 'owner_id', condition => $$lyrics <> '' AND chords <> '' AND key <> '' AND notes <> '' AND tempo > 0$$);

-- Pack completion: the owner's packs that hold at least one of the owner's songs, all fully
-- authored. Only the pack owner's own songs count: a change to a song recounts the song's owner
-- (depends_on songs, by owner_id), so a pack must not depend on songs of other users.
SELECT achievements.track('packs', 'completed_packs', mode => 'toggle', user_column => 'owner_id', depends_on => 'songs', condition => $$EXISTS (SELECT 1 FROM public.songs AS s WHERE s.pack_id = packs.id AND s.owner_id = packs.owner_id) AND NOT EXISTS (SELECT 1 FROM public.songs AS s WHERE s.pack_id = packs.id AND s.owner_id = packs.owner_id AND (s.lyrics <> '' AND s.chords <> '' AND s.key <> '' AND s.notes <> '' AND s.tempo > 0) IS NOT TRUE)$$);

-- Album series: each series created; the owner's series that hold at least one of the owner's
-- songs, all released (the owner's songs only, as for packs).
SELECT achievements.track('album_series', 'album_series_created', user_column => 'owner_id');
SELECT achievements.track('album_series', 'album_series_completed', mode => 'toggle', user_column => 'owner_id', depends_on => 'songs', condition => $$EXISTS (SELECT 1 FROM public.songs AS s WHERE s.album_series_id = album_series.id AND s.owner_id = album_series.owner_id) AND NOT EXISTS (SELECT 1 FROM public.songs AS s WHERE s.album_series_id = album_series.id AND s.owner_id = album_series.owner_id AND s.status <> 'released')$$);

-- Social, for the collaborator: each time they are added to a song they do not own.
SELECT achievements.track('collaborations', 'added_as_collaborator', 'user_id', user_column => 'user_id', condition => $$user_id <> (SELECT s.owner_id FROM public.songs AS s WHERE s.id = collaborations.song_id)$$);

-- Diversity: the distinct artists (case-insensitive), years and decades of the owner's released songs.
SELECT achievements.track('songs', 'released_artists', mode => 'distinct', value => 'lower(artist)', user_column => 'owner_id', condition => $$status = 'released'$$);
SELECT achievements.track('songs', 'released_years', mode => 'distinct', value => 'year', user_column => 'owner_id', condition => $$status = 'released'$$);
SELECT achievements.track('songs', 'released_decades', mode => 'distinct', value => 'year / 10', user_column => 'owner_id', condition => $$status = 'released'$$);

-- Engagement: the longest run of consecutive days the user logged in, in the user's calendar.
SELECT achievements.track('logins', 'login_streak', mode => 'streak', at => 'logged_in_at', time_zone => 'time_zone', user_column => 'user_id');
