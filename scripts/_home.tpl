<h3>Simple portal</h3>
<p class="account">$account</p>
<p>Your content here...</p>

<h3>Examples</h3>
<p>This is the bundled example site, served from the <code>scripts/</code>
folder. Drop files into a folder, run one command, and they are on the web.
Save a file while a page is open: the tab reloads by itself.</p>
<ul>
<li><a href="hello.ts?name=world">hello.ts?name=world</a>: a page module answers <q>Hello world !</q></li>
<li><a href="hello.tpl?name=world">hello.tpl?name=world</a>: the same from a template</li>
<li><a href="upload.html">upload.html</a>: upload files; <code>upload.ts</code> shows their names, sizes and types</li>
<li><a href="inspect/some/path?x=1">inspect</a>: everything a page receives (query, form, cookies, headers, CGI environment)</li>
<li><a href="docs/">docs/</a>: a directory without an index, shown as a listing</li>
</ul>
<p><small>This page is <code>index.ts</code>, which renders <code>_home.tpl</code>
(and <code>_user.tpl</code>).</small></p>
