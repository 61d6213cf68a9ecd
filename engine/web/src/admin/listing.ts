import { useCallback, useEffect, useState } from "react";
import { messageOf } from "../errors";

/// An administration list: loaded at first, reloaded after each change,
/// with a status line saying how the last change went.
export function useListing<T>(fetchList: () => Promise<T[]>) {
  const [items, setItems] = useState<T[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  // The fetch is fixed for the view's life.
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const reload = useCallback(() => fetchList().then(setItems), []);
  useEffect(() => {
    reload();
  }, [reload]);
  const act = async (request: Promise<{ error?: unknown }>, done: string) => {
    const { error } = await request;
    setMessage(error ? messageOf(error, "refused") : done);
    reload();
  };
  return { items, reload, message, setMessage, act };
}
