// Starts GraphiQL against the Kinbridge endpoint that served this page, with queries
// over HTTP and subscriptions over graphql-ws on the same path. The settings (the
// headers to start with, the first query) are written into the page by
// crates/server/src/graphiql.rs.
(function () {
  'use strict';
  var settings = JSON.parse(document.getElementById('kinbridge-settings').textContent);
  var endpoint = new URL(location.pathname, location.href);
  var socket = new URL(endpoint.href);
  socket.protocol = endpoint.protocol === 'https:' ? 'wss:' : 'ws:';
  var fetcher = GraphiQL.createFetcher({
    url: endpoint.href,
    subscriptionUrl: socket.href,
    headers: settings.fetcherHeaders,
    wsConnectionParams: settings.fetcherHeaders,
  });
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: settings.query,
      defaultHeaders: settings.headers,
      // A development token expires; never keep one in the browser's storage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
