-- Writing the outbox rows of new badges and levels, and of revoked badges (published by the
-- trigger of 01_outbox.sql), from templates: per kind in achievements.notification_templates,
-- per badge and per level in their notification_title, notification_body and link columns.

-- The templates of the package's own notifications, one row per kind (badge, level,
-- badge_revoked) that the catalog ([notifications]) declared; a kind without a row uses the
-- package's (template_defaults). A badge or level may override each field. Placeholders in
-- braces are replaced by the badge's or level's fields (template_placeholders); NULL or an
-- empty result leaves the field NULL (the title falls back to the badge's or level's name).
CREATE TABLE achievements.notification_templates (
    kind  text PRIMARY KEY
              CONSTRAINT notification_templates_kind_known CHECK (kind IN ('badge', 'level', 'badge_revoked')),
    title text NOT NULL CONSTRAINT notification_templates_title_not_empty CHECK (title <> ''),
    body  text,
    link  text
);
COMMENT ON TABLE achievements.notification_templates IS
    'Title, body and link templates of the notifications the package writes (kinds badge, level, badge_revoked); badges and levels may override them. Change them with apply_catalog ([notifications]).';

-- The package's own template of `kind` (badge, level, badge_revoked) as {title, body, link}:
-- what a kind without a row of notification_templates uses, and what apply_catalog gives a
-- field that a declared kind leaves out. IMMUTABLE; inlinable (no SET clause, constants only).
CREATE FUNCTION achievements_private.template_defaults(kind text)
RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN CASE kind
    WHEN 'badge' THEN '{"title": "Badge earned: {name}", "body": "{description}", "link": null}'::jsonb
    WHEN 'level' THEN '{"title": "Level reached: {name}", "body": "{description}", "link": null}'::jsonb
    WHEN 'badge_revoked' THEN '{"title": "Badge revoked: {name}", "body": null, "link": null}'::jsonb
END;

SELECT achievements_private.grant_to_app_roles('SELECT', 'TABLE achievements.notification_templates');
SELECT achievements_private.grant_to_service_roles('SELECT', 'TABLE achievements.notification_templates');

-- The placeholders the templates of `kind` may use, as text for messages: badge and
-- badge_revoked templates name a badge's fields, level templates a level's. IMMUTABLE.
CREATE FUNCTION achievements_private.template_placeholders(kind text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
RETURN CASE WHEN kind = 'level' THEN '{level}, {name}, {description}, {min_points}, {user_id}'
            ELSE '{code}, {name}, {description}, {icon}, {category}, {points}, {rarity}, {user_id}' END;

-- The problem with one template field (`field`: its name in messages), or NULL when there is
-- none: a placeholder in braces that templates of `kind` do not have. NULL templates are fine.
-- Never raises.
CREATE FUNCTION achievements_private.template_problem(field text, template text, kind text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format('%s: unknown placeholder %s', field, m[1])
      FROM regexp_matches(template, '[{][^{}]*[}]', 'g') AS m
     WHERE strpos(achievements_private.template_placeholders(kind), m[1]) = 0
     LIMIT 1
$$;

-- Refuses a bad row of notification_templates (AD208): a placeholder its kind does not have.
CREATE FUNCTION achievements_private.validate_notification_template()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    problem text := coalesce(achievements_private.template_problem('title', NEW.title, NEW.kind),
                             achievements_private.template_problem('body', NEW.body, NEW.kind),
                             achievements_private.template_problem('link', NEW.link, NEW.kind));
BEGIN
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'notification template %: %', quote_literal(NEW.kind), problem
            USING ERRCODE = 'AD208',
                  HINT = format('Templates of kind %s may use %s.', NEW.kind, achievements_private.template_placeholders(NEW.kind));
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER _000_validate
    BEFORE INSERT OR UPDATE ON achievements.notification_templates
    FOR EACH ROW EXECUTE FUNCTION achievements_private.validate_notification_template();

-- The template of `kind`: its row of notification_templates, else the package's
-- (template_defaults). One row. Inlinable into the announcing queries (no SET clause; every
-- name qualified or pg_catalog's), so that their plans, cached per session, include it: a SQL
-- function that is not inlined is planned again on every call.
CREATE FUNCTION achievements_private.template_of(kind text)
RETURNS TABLE (title text, body text, link text)
LANGUAGE sql STABLE
AS $$
    SELECT coalesce(t.title, d ->> 'title'), CASE WHEN t.kind IS NULL THEN d ->> 'body' ELSE t.body END,
           CASE WHEN t.kind IS NULL THEN d ->> 'link' ELSE t.link END
      FROM achievements_private.template_defaults(kind) AS d
      LEFT JOIN achievements.notification_templates AS t ON t.kind = template_of.kind
$$;

-- `template` with the placeholders of a badge filled in ({code}, {name}, {description}, {icon},
-- {category}, {points}, {rarity}; a NULL field is the empty text); {user_id} stays for the
-- caller to fill per row. NULL for a NULL template or an empty result. Inlinable (no SET
-- clause; pg_catalog's replace only): a PL/pgSQL renderer cost 20 us per field of every award.
CREATE FUNCTION achievements_private.render_badge(
    template text, code text, name text, description text, icon text, category text, points int, rarity text)
RETURNS text
LANGUAGE sql IMMUTABLE
RETURN nullif(replace(replace(replace(replace(replace(replace(replace(template,
           '{code}', coalesce(code, '')), '{name}', coalesce(name, '')),
           '{description}', coalesce(description, '')), '{icon}', coalesce(icon, '')),
           '{category}', coalesce(category, '')), '{points}', coalesce(points::text, '')),
           '{rarity}', coalesce(rarity, '')), '');

-- The same for a level ({level} and {name}: its name, {description}, {min_points}).
CREATE FUNCTION achievements_private.render_level(template text, level text, description text, min_points int)
RETURNS text
LANGUAGE sql IMMUTABLE
RETURN nullif(replace(replace(replace(replace(template,
           '{level}', coalesce(level, '')), '{name}', coalesce(level, '')),
           '{description}', coalesce(description, '')), '{min_points}', coalesce(min_points::text, '')), '');

-- The outbox fields of badge notifications of `kind` ('badge' or 'badge_revoked') for the
-- badges `codes`: per badge its rendered title (never NULL: the badge's name when the template
-- renders to nothing), body and link, each still holding {user_id}, and its data. Inlinable
-- into the announcing queries, as template_of.
CREATE FUNCTION achievements_private.badge_notification_fields(kind text, codes text[])
RETURNS TABLE (code text, title text, body text, link text, data jsonb)
LANGUAGE sql STABLE
AS $$
    SELECT b.code,
           coalesce(achievements_private.render_badge(
                        CASE WHEN kind = 'badge' THEN coalesce(b.notification_title, t.title) ELSE t.title END,
                        b.code, b.name, b.description, b.icon, b.category, b.points, b.rarity),
                    b.name),
           achievements_private.render_badge(
               CASE WHEN kind = 'badge' THEN coalesce(b.notification_body, t.body) ELSE t.body END,
               b.code, b.name, b.description, b.icon, b.category, b.points, b.rarity),
           achievements_private.render_badge(coalesce(b.link, t.link),
                                             b.code, b.name, b.description, b.icon, b.category, b.points, b.rarity),
           jsonb_build_object('badge', b.code, 'name', b.name, 'points', b.points,
                              'rarity', b.rarity, 'icon', b.icon, 'category', b.category)
      FROM achievements.badges AS b
     CROSS JOIN achievements_private.template_of(badge_notification_fields.kind) AS t
     WHERE b.code = ANY (codes)
$$;

-- Writes one 'badge' outbox row per newly awarded (user, badge) pair, titled and linked by the
-- templates (badge_notification_fields), unless achievements.quiet is on. Called by
-- count_badges for every statement that awards badges, whatever path awarded them. Never
-- raises: any failure (e.g. a notification too long for pg_notify) becomes a WARNING, marks
-- those awards notified = false (redeliver_notifications finds them), and the awards stand.
CREATE FUNCTION achievements_private.announce_badges(user_ids achievements.user_ref[], codes text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
        SELECT a.user_id, 'badge', replace(f.title, '{user_id}', a.user_id::text),
               replace(f.body, '{user_id}', a.user_id::text), replace(f.link, '{user_id}', a.user_id::text), f.data
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements_private.badge_notification_fields('badge', codes) AS f ON f.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge award(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_badges AS ub SET notified = false
          FROM unnest(user_ids, codes) AS a(user_id, badge)
         WHERE ub.user_id = a.user_id AND ub.badge = a.badge;
    END;
END
$$;

-- Writes one 'badge_revoked' outbox row per (user, badge) taken back, unless achievements.quiet
-- is on. Called by count_badges for every statement that revokes badges (revoke_badge, a
-- revocable badge whose tally fell, a badge about badges no longer met), not for a badge
-- deleted from the catalog. Never raises (a failure becomes a WARNING; the revocations stand).
CREATE FUNCTION achievements_private.announce_revocations(user_ids achievements.user_ref[], codes text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
        SELECT a.user_id, 'badge_revoked', replace(f.title, '{user_id}', a.user_id::text),
               replace(f.body, '{user_id}', a.user_id::text), replace(f.link, '{user_id}', a.user_id::text), f.data
          FROM unnest(user_ids, codes) WITH ORDINALITY AS a(user_id, badge, ord)
          JOIN achievements_private.badge_notification_fields('badge_revoked', codes) AS f ON f.code = a.badge
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % badge revocation(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
    END;
END
$$;

-- Writes one 'level' outbox row per newly reached (user, level), titled and linked by the
-- templates (the level's own, else those of kind level), unless achievements.quiet is on.
-- Never raises: a failure becomes a WARNING, marks those levels notified = false
-- (redeliver_notifications finds them), and the levels stand.
CREATE FUNCTION achievements_private.announce_levels(user_ids achievements.user_ref[], levels text[])
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF achievements_private.quiet() OR user_ids IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        INSERT INTO achievements.notifications (user_id, kind, title, body, link, data)
        SELECT a.user_id, 'level', replace(f.title, '{user_id}', a.user_id::text),
               replace(f.body, '{user_id}', a.user_id::text), replace(f.link, '{user_id}', a.user_id::text),
               jsonb_build_object('level', f.name)
          FROM unnest(user_ids, levels) WITH ORDINALITY AS a(user_id, level, ord)
          JOIN (SELECT l.name,
                       coalesce(achievements_private.render_level(coalesce(l.notification_title, t.title),
                                                                  l.name, l.description, l.min_points), l.name) AS title,
                       achievements_private.render_level(coalesce(l.notification_body, t.body),
                                                         l.name, l.description, l.min_points) AS body,
                       achievements_private.render_level(coalesce(l.link, t.link),
                                                         l.name, l.description, l.min_points) AS link
                  FROM achievements.levels AS l
                 CROSS JOIN achievements_private.template_of('level') AS t
                 WHERE l.name = ANY (levels)) AS f ON f.name = a.level
         ORDER BY a.ord;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'achievements: % level(s) stand, but their notifications failed: % (SQLSTATE %)',
                      cardinality(user_ids), SQLERRM, SQLSTATE;
        UPDATE achievements.user_levels AS ul SET notified = false
          FROM unnest(user_ids, levels) AS a(user_id, level)
         WHERE ul.user_id = a.user_id AND ul.level = a.level;
    END;
END
$$;
