// trax-ts for browsers: package.json's "browser" export condition picks this
// entry. The API is index.ts's; bundlers swap platform/host.js for
// platform/host.browser.js through the package's "browser" map, so nothing
// here reaches a Node built-in or the native addon. Files become bytes and
// URLs: model.initFromBytes / initFromFile(url) / saveToBytes,
// trax.data.tokenizerFromBytes / loadTokenizer, trax.pretrained.url(name).
export * from './index.js';
