-- Streak settings that need storage (issue 4): what the streak rules need to apply a goal
-- change from the next day and a timezone or day-start change without breaking a streak
-- (rooms/rules/streaks.py: goal_for_day, change_zone).
--
-- users.daily_goal_prev_min / daily_goal_changed_at: the goal (min) in force before the
-- last change and the instant of that change. The local day of that instant (in the zone
-- the day is judged in) and earlier days keep the previous goal; later days use
-- daily_goal_min. Both NULL when no change is pending or ever made.
ALTER TABLE users
    ADD COLUMN daily_goal_prev_min    integer CHECK (daily_goal_prev_min BETWEEN 1 AND 1440),
    ADD COLUMN daily_goal_changed_at  timestamptz,
    ADD CONSTRAINT users_goal_change_check
        CHECK ((daily_goal_prev_min IS NULL) = (daily_goal_changed_at IS NULL));

-- progress.streak_timezone / streak_day_start_hour: the zone and day start the streak's
-- streak_last_day is a date of (the settings of the last count). Until the next count the
-- streak is settled in them; that count re-expresses it in the user's current settings
-- (change_zone) first. NULL before the first count.
ALTER TABLE progress
    ADD COLUMN streak_timezone        text CHECK (char_length(streak_timezone) BETWEEN 1 AND 64),
    ADD COLUMN streak_day_start_hour  smallint CHECK (streak_day_start_hour BETWEEN 0 AND 23),
    ADD CONSTRAINT progress_streak_zone_check
        CHECK ((streak_timezone IS NULL) = (streak_day_start_hour IS NULL));

-- Streaks counted before this migration were counted in the user's settings of the time,
-- which no change could have touched yet (settings were not editable before).
UPDATE progress p SET streak_timezone = u.timezone, streak_day_start_hour = u.day_start_hour
FROM users u WHERE u.id = p.user_id AND p.streak_last_day IS NOT NULL;
