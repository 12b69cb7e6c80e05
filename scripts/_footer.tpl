<footer><small><a href="./">Home</a> · pages here render into
<code>_layout.tpl</code>, which includes <code>_footer.tpl</code>; files starting
with <code>_</code> are never served.</small></footer>
