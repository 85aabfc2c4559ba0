"""Server-rendered pages: the staff web application (`staff`) and the borrower portal (`portal`)."""
