// Ambient types for Vite (import.meta.env) and Svelte component modules.
/// <reference types="svelte" />
/// <reference types="vite/client" />
