import { useMemo, useState } from "react";
import type { Schemas } from "../api/client";
import type { Catalog } from "./document";

export interface PaletteKind {
  key: string;
  title: string;
  description: string;
  category: string;
  /// What a new node of this kind says: `uses` and `kind`, or `builtin`.
  spec: { uses?: string; kind?: string; builtin?: Schemas["WorkflowBuiltin"] };
}

export function paletteKinds(catalog: Catalog): PaletteKind[] {
  const kinds: PaletteKind[] = catalog.builtins.map((b) => ({
    key: `builtin:${b.name}`,
    title: b.title,
    description: b.description,
    category: b.category,
    spec: { builtin: b.name as Schemas["WorkflowBuiltin"] },
  }));
  for (const plugin of catalog.plugins) {
    const [major, minor] = plugin.version.split(".");
    for (const kind of plugin.kinds) {
      kinds.push({
        key: `${plugin.plugin}/${kind.name}`,
        title: kind.title,
        description: kind.description,
        category: kind.category,
        spec: { uses: `${plugin.plugin}@^${major}.${minor}`, kind: kind.name },
      });
    }
  }
  return kinds;
}

/// The node kinds, grouped by category and searchable. A kind is dragged
/// onto the canvas, or added with Enter or a click.
export function Palette({ catalog, onAdd }: { catalog: Catalog; onAdd: (kind: PaletteKind) => void }) {
  const [query, setQuery] = useState("");
  const groups = useMemo(() => {
    const wanted = query.trim().toLowerCase();
    const byCategory = new Map<string, PaletteKind[]>();
    for (const kind of paletteKinds(catalog)) {
      const text = `${kind.title} ${kind.key} ${kind.description}`.toLowerCase();
      if (wanted && !text.includes(wanted)) continue;
      byCategory.set(kind.category, [...(byCategory.get(kind.category) ?? []), kind]);
    }
    return [...byCategory.entries()].sort(([a], [b]) => a.localeCompare(b));
  }, [catalog, query]);

  return (
    <aside className="palette" aria-label="Node palette">
      <input type="search" placeholder="Search nodes" aria-label="Search nodes" value={query} onChange={(e) => setQuery(e.target.value)} />
      {groups.map(([category, kinds]) => (
        <section key={category}>
          <h3>{category}</h3>
          <ul>
            {kinds.map((kind) => (
              <li key={kind.key}>
                <button
                  type="button"
                  draggable
                  title={kind.description}
                  data-testid={`palette-${kind.key}`}
                  onDragStart={(e) => e.dataTransfer.setData("application/trellis-kind", kind.key)}
                  onClick={() => onAdd(kind)}
                >
                  {kind.title}
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </aside>
  );
}
