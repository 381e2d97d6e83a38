// Entry point: applies the theme before first paint and mounts the app.
// First: a POSIX locale must not stop the libraries that format numbers as they load.
import "./lib/locale";
import "./app.css";
import { mount } from "svelte";
import App from "./App.svelte";
import { theme } from "./lib/stores/theme.svelte";

theme.apply();

const target = document.getElementById("app");
if (!target) throw new Error("#app is missing from index.html");

export default mount(App, { target });
