User : $user<br>
<a href="logout.ts">Logout</a>