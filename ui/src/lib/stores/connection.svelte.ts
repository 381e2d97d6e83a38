// Connection dialog state: the remembered connection, connecting, disconnecting and their errors.
import type { ConnectionProfile } from "../bindings/ConnectionProfile";
import type { SavedConnection } from "../bindings/SavedConnection";
import type { WireError } from "../bindings/WireError";
import { connectErrorText } from "../connectionForm";
import { request } from "../ipc";
import { toasts } from "./toasts.svelte";

export class ConnectionStore {
  saved = $state<SavedConnection | null>(null);
  dialogOpen = $state(false);
  busy = $state(false);
  /** The last connect error, shown inline in the dialog. */
  error = $state<string | null>(null);
  /** Bumped when `saved` is reloaded, so the dialog refills its form. */
  loaded = $state(0);

  async load(): Promise<void> {
    try {
      this.saved = await request((b) => b.savedConnection());
    } catch (e) {
      this.error = `Could not read the remembered connection: ${(e as { message: string }).message}`;
    }
    this.loaded++;
  }

  open(): void {
    this.error = null;
    this.dialogOpen = true;
    void this.load();
  }

  close(): void {
    if (!this.busy) this.dialogOpen = false;
  }

  /** Connects; true on success (the dialog closes), false with `error` set. */
  async connect(profile: ConnectionProfile): Promise<boolean> {
    this.busy = true;
    this.error = null;
    try {
      this.saved = await request((b) => b.connect(profile));
      this.dialogOpen = false;
      return true;
    } catch (e) {
      this.error = connectErrorText(e as WireError);
      return false;
    } finally {
      this.busy = false;
    }
  }

  async disconnect(): Promise<void> {
    this.busy = true;
    try {
      await request((b) => b.disconnect());
    } catch (e) {
      toasts.push({ key: "disconnect", tone: "error", text: `Could not disconnect: ${(e as { message: string }).message}` });
    } finally {
      this.busy = false;
    }
  }
}

export const connection = new ConnectionStore();
