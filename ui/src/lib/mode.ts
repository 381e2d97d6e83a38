// Which view fills the main area.
export type AppMode = "events" | "timeline" | "notifications";
