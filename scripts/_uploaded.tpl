<h1>$count from $who</h1>
<table>
<thead><tr><th>Name</th><th>Size</th><th>Type</th></tr></thead>
<tbody>
$rows
</tbody>
</table>
<p><a href="upload.html">Upload more</a></p>
