// The browser build of the real @aws/clickstream-web SDK (its lib-esm/index.js), exposed on
// window the way upstream's webpack bundle (clickstream-web.min.js) does. Bundled with esbuild
// into an IIFE by tests/e2e/test_clickstream_sdk.py.
import { Attr, ClickstreamAnalytics, PageType, SendMode } from '@aws/clickstream-web';

globalThis.ClickstreamAnalytics = ClickstreamAnalytics;
globalThis.SendMode = SendMode;
globalThis.PageType = PageType;
globalThis.Attr = Attr;
