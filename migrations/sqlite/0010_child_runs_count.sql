-- Child runs (map items, subworkflows) count toward their day's runs like
-- top-level ones: a workflow cannot multiply its runs past the quota by
-- starting children.
DROP TRIGGER runs_count_daily;
CREATE TRIGGER runs_count_daily AFTER INSERT ON runs
BEGIN
    INSERT OR IGNORE INTO usage_daily (tenant_id, day) VALUES (NEW.tenant_id, date(NEW.created_at / 1000, 'unixepoch'));
    UPDATE usage_daily SET runs = runs + 1
     WHERE tenant_id = NEW.tenant_id AND day = date(NEW.created_at / 1000, 'unixepoch');
END;
